"""The digital card: card numbers, rotating QR codes, QR rendering."""
