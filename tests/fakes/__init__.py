"""Local stand-ins for outside services (FCM and Google's OAuth token endpoint)."""
