from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0004_participant_address"),
    ]

    operations = [
        migrations.AddField(
            model_name="space",
            name="pinned_url",
            field=models.CharField(blank=True, editable=False, max_length=500),
        ),
        migrations.AddField(
            model_name="space",
            name="pinned_label",
            field=models.CharField(blank=True, editable=False, max_length=80),
        ),
        migrations.AddField(
            model_name="participant",
            name="self_muted",
            field=models.BooleanField(default=False),
        ),
    ]
