from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_checkins')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EarnRule',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('label', fields.CharField(max_length=120)),
                ('kind', fields.CharField(max_length=24)),
                ('rate', fields.CharField(null=True, max_length=24)),
                ('points', fields.BigIntField(null=True)),
                ('cap', fields.BigIntField(null=True)),
                ('conditions', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('priority', fields.IntField(default=0)),
                ('active', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'earn_rule', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EarnRuleChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rule', fields.ForeignKeyField('models.EarnRule', source_field='rule_id', db_constraint=True, to_field='id', related_name='changes', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='rule_changes', on_delete=OnDelete.RESTRICT)),
                ('action', fields.CharField(max_length=16)),
                ('before', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('after', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'earn_rule_change', 'app': 'models', 'indexes': [Index(fields=['rule_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProgrammeSettings',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tier_basis', fields.CharField(default='POINTS', max_length=16)),
                ('tier_period', fields.CharField(default='CALENDAR_YEAR', max_length=16)),
                ('tier_window_days', fields.IntField(default=365)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('reminder_days', fields.IntField(default=14)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'programme_settings', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reward',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.CharField(default='', max_length=1000)),
                ('points_price', fields.BigIntField()),
                ('stock', fields.BigIntField(null=True)),
                ('starts_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('active', fields.BooleanField(default=True)),
                ('benefit_kind', fields.CharField(max_length=16)),
                ('benefit_value', fields.BigIntField()),
                ('coupon_valid_days', fields.IntField(default=30)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reward', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Coupon',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.RESTRICT)),
                ('reward', fields.ForeignKeyField('models.Reward', source_field='reward_id', null=True, db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.RESTRICT)),
                ('bought_with', fields.ForeignKeyField('models.LedgerTransaction', source_field='bought_with_id', null=True, db_constraint=True, to_field='id', related_name='coupons_bought', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('benefit_kind', fields.CharField(max_length=16)),
                ('benefit_value', fields.BigIntField()),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('redeemed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('redeemed_in', fields.ForeignKeyField('models.LedgerTransaction', source_field='redeemed_in_id', null=True, db_constraint=True, to_field='id', related_name='coupons_redeemed', on_delete=OnDelete.RESTRICT)),
                ('reminded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'coupon', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'id']), Index(fields=['expires_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SurveyResponse',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='surveys', on_delete=OnDelete.RESTRICT)),
                ('purchase', fields.OneToOneField('models.Purchase', source_field='purchase_id', db_constraint=True, to_field='id', related_name='survey', on_delete=OnDelete.RESTRICT)),
                ('rating', fields.IntField()),
                ('comment', fields.CharField(null=True, max_length=2000)),
                ('transaction', fields.ForeignKeyField('models.LedgerTransaction', source_field='transaction_id', null=True, db_constraint=True, to_field='id', related_name='surveys', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'survey_response', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tier',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=60)),
                ('threshold', fields.BigIntField()),
                ('multiplier', fields.CharField(default='1', max_length=24)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'tier', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CustomerTier',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.OneToOneField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='tier_status', on_delete=OnDelete.RESTRICT)),
                ('tier', fields.ForeignKeyField('models.Tier', source_field='tier_id', null=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.RESTRICT)),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('review_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'customer_tier', 'app': 'models', 'indexes': [Index(fields=['review_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Offer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.CharField(default='', max_length=1000)),
                ('target', fields.CharField(default='ALL', max_length=16)),
                ('tier', fields.ForeignKeyField('models.Tier', source_field='tier_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.RESTRICT)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.RESTRICT)),
                ('starts_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('per_customer_limit', fields.IntField(default=1)),
                ('benefit_kind', fields.CharField(max_length=16)),
                ('benefit_value', fields.BigIntField()),
                ('min_basket_minor', fields.BigIntField(null=True)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'offer', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AppliedBenefit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('transaction', fields.ForeignKeyField('models.LedgerTransaction', source_field='transaction_id', db_constraint=True, to_field='id', related_name='benefits', on_delete=OnDelete.RESTRICT)),
                ('offer', fields.ForeignKeyField('models.Offer', source_field='offer_id', null=True, db_constraint=True, to_field='id', related_name='applied', on_delete=OnDelete.RESTRICT)),
                ('coupon', fields.ForeignKeyField('models.Coupon', source_field='coupon_id', null=True, db_constraint=True, to_field='id', related_name='applied', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('benefit_kind', fields.CharField(max_length=16)),
                ('discount_minor', fields.BigIntField(default=0)),
                ('bonus_points', fields.BigIntField(default=0)),
            ],
            options={'table': 'applied_benefit', 'app': 'models', 'indexes': [Index(fields=['transaction_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferActivation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offer', fields.ForeignKeyField('models.Offer', source_field='offer_id', db_constraint=True, to_field='id', related_name='activations', on_delete=OnDelete.RESTRICT)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='offer_activations', on_delete=OnDelete.RESTRICT)),
                ('uses', fields.IntField(default=0)),
                ('activated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'offer_activation', 'app': 'models', 'unique_together': (('offer', 'customer'),), 'indexes': [Index(fields=['customer_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferTarget',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offer', fields.ForeignKeyField('models.Offer', source_field='offer_id', db_constraint=True, to_field='id', related_name='targets', on_delete=OnDelete.RESTRICT)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='targeted_offers', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'offer_target', 'app': 'models', 'unique_together': (('offer', 'customer'),), 'indexes': [Index(fields=['customer_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='birth_date',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='Customer',
            name='birthday_bonus_year',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Lot',
            name='reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Geofence',
            name='polygon',
            field=fields.TextField(null=True),
        ),
        ops.AddIndex(
            model_name='LedgerTransaction',
            index=Index(fields=['customer_id', 'occurred_at']),
        ),
        ops.AddIndex(
            model_name='Purchase',
            index=Index(fields=['customer_id', 'occurred_at']),
        ),
        ops.AddIndex(
            model_name='Lot',
            index=Index(fields=['expires_at']),
        ),
    ]
