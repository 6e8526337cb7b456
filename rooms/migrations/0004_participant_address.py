from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0003_media_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="space",
            name="unique_listeners",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="participant",
            name="address",
            field=models.GenericIPAddressField(blank=True, editable=False, null=True),
        ),
    ]
