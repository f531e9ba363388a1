"""`loyalty worker` in a child process, pushing to the fake FCM.

firebase-admin has no setting for the FCM endpoint: it is a class attribute
formatted into the messaging service when the service is created, so it is
patched here, before the CLI builds its sender. Everything else comes from the
environment, as in production: DATABASE_URL, FIREBASE_CREDENTIALS (the fake's
service account), LOYALTY_PUSH_LEASE_SECONDS...

    FAKE_FCM_URL=http://127.0.0.1:PORT/v1/projects/{0}/messages:send \\
        python -m tests.fakes.push_worker [--batch-size N]
"""

from __future__ import annotations

import os
import sys

from firebase_admin import messaging

from api.cli import main

if __name__ == "__main__":
    messaging._MessagingService.FCM_URL = os.environ["FAKE_FCM_URL"]
    sys.exit(main(["worker", *sys.argv[1:]]))
