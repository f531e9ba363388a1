"""What every part runs on: the database and its SQL, configuration, the in-
process bus, job and polling loops, time zones."""
