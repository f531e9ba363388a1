"""Bulk imports: a run per file, and its rows staged before they are posted."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ImportRun(Model):
    # One file's import. Rows are staged (validated) first, then posted in
    # chunks, each committed with `done_line`: a run stopped half-way resumes
    # from there when the same file is imported again.

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # customers | balances | transactions
    file_sha256 = fields.CharField(max_length=64)
    rows = fields.IntField(default=0)
    done_line = fields.IntField(default=0)
    # staging | posting | done | rejected
    status = fields.CharField(max_length=16)
    created = fields.IntField(default=0)
    skipped = fields.IntField(default=0)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "import_run"
        indexes = (("kind", "file_sha256"),)


class ImportRow(Model):
    # A validated row of a run, waiting to be posted (one table for the three
    # kinds; the columns a kind does not use stay null). Deleted when its run
    # ends.

    id = fields.BigIntField(primary_key=True)
    run_id = fields.BigIntField()
    line = fields.IntField()
    email = fields.CharField(max_length=254, null=True)
    first_name = fields.CharField(max_length=100, null=True)
    locale = fields.CharField(max_length=35, null=True)
    timezone = fields.CharField(max_length=64, null=True)
    phone = fields.CharField(max_length=32, null=True)
    external_id = fields.CharField(max_length=64, null=True)
    marketing = fields.BooleanField(null=True)
    points = fields.BigIntField(null=True)
    expires_at = fields.DatetimeField(null=True)
    # transactions: the previous programme's id of the transaction, its time
    # and its description.
    reference = fields.CharField(max_length=64, null=True)
    occurred_at = fields.DatetimeField(null=True)
    description = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "import_row"
        indexes = (("run_id", "line"),)
