# The Camera model moves from the detection app to this one without touching its rows: this
# migration only tells Django's state that the model now lives here, on its old table; 0002 renames
# the table. The content type moves too, so the permissions given on cameras stay with their users.

import cameras.config
import cameras.models
import cameras.sources
import django.core.validators
from django.db import migrations, models


def _relabel(apps, old_label, new_label):
    """Give the camera's content type (and so its permissions) the new app label. A content type
    already made for the new label (post_migrate of an earlier, partial run) holds nothing of
    value yet: it makes way for the old one, whose permissions users were given."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label=old_label, model="camera").first()
    if old is None:
        return
    ContentType.objects.filter(app_label=new_label, model="camera").delete()
    old.app_label = new_label
    old.save(update_fields=["app_label"])


def move_content_type(apps, schema_editor):
    _relabel(apps, "detection", "cameras")


def move_content_type_back(apps, schema_editor):
    _relabel(apps, "cameras", "detection")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("detection", "0004_alert_retention"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Camera',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('source_url', models.CharField(help_text='rtsp://user:password@host:554/stream, http(s)://host/video.mjpg, or an absolute path of a video file under CAMERA_FILE_ROOTS (files loop). Credentials are never shown in lists or logs.', max_length=2000, validators=[cameras.sources.validate_source_url], verbose_name='source')),
                        ('enabled', models.BooleanField(db_index=True, default=True)),
                        ('detect_fps', models.FloatField(default=5.0, help_text='Frames per second sent to the detector (sampled by frame timestamps).', validators=[django.core.validators.MinValueValidator(0.2), django.core.validators.MaxValueValidator(30.0)])),
                        ('confidence_threshold', models.FloatField(default=0.35, validators=[django.core.validators.MinValueValidator(0.05), django.core.validators.MaxValueValidator(0.95)])),
                        ('classes', models.JSONField(default=cameras.models.default_classes, help_text='COCO class names to detect and track.', validators=[cameras.config.validate_classes], verbose_name='classes of interest')),
                        ('motion_gate', models.BooleanField(default=True, help_text='Skip detection on frames without motion (a static frame is still checked every few seconds).')),
                        ('motion_threshold', models.FloatField(default=0.002, help_text='Share of the picture that must change for a frame to count as motion.', validators=[django.core.validators.MinValueValidator(0.0001), django.core.validators.MaxValueValidator(0.5)])),
                        ('speed_limit_kmh', models.PositiveSmallIntegerField(default=50, validators=[django.core.validators.MinValueValidator(5), django.core.validators.MaxValueValidator(300)])),
                        ('calibration', models.JSONField(blank=True, default=dict, help_text='Road-plane calibration: {"image_points": [[x, y], ...], "world_points": [[X, Y], ...]}, image points normalized 0..1, world points in metres, at least four pairs.', validators=[cameras.config.validate_calibration])),
                        ('zones', models.JSONField(blank=True, default=list, help_text='Lanes, crosswalks and no-stopping areas: [{"name": ..., "kind": "lane", "polygon": [[x, y], ...], "flow": [[x, y], [x, y]]}, ...].', validators=[cameras.config.validate_zones])),
                        ('rules', models.JSONField(blank=True, default=dict, help_text='Per-rule overrides of the default thresholds, e.g. {"tailgating": {"headway_s": 1.0}}.', validators=[cameras.config.validate_rules])),
                        ('llm_enabled', models.BooleanField(default=True, help_text="Send this camera's candidate events to DashScope Qwen-VL for verification (when a key is set).", verbose_name='verify with the LLM')),
                        ('llm_conclusive_rules', models.JSONField(blank=True, default=list, help_text='Rules whose events are conclusive here and skip the LLM, e.g. ["wrong_way"] on a one-way street.', validators=[cameras.models.validate_rule_names], verbose_name='rules trusted without the LLM')),
                        ('llm_calls_per_hour', models.PositiveIntegerField(default=120, help_text='Cost cap for this camera (rolling hour); further events are alerted unverified.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100000)], verbose_name='LLM calls per hour')),
                        ('llm_privacy_blur', models.BooleanField(default=True, help_text='Pixelate heads and licence-plate areas (from the person and vehicle boxes) in the images sent to the cloud. Evidence stored here is kept as captured.', verbose_name='pixelate faces and plates')),
                        ('alert_retention_days', models.PositiveIntegerField(blank=True, default=30, help_text='Alerts and their evidence images older than this are deleted, except alerts an operator confirmed. Leave empty to keep them forever.', null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(3650)], verbose_name='keep alerts for (days)')),
                        ('status', models.CharField(choices=[('unknown', 'Not started'), ('online', 'Online'), ('offline', 'Offline'), ('error', 'Error')], db_index=True, default='unknown', max_length=16)),
                        ('status_changed_at', models.DateTimeField(blank=True, null=True)),
                        ('last_frame_at', models.DateTimeField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('reconnect_count', models.PositiveIntegerField(default=0)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'detection_camera',
                        'ordering': ['name'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('detect_fps__gte', 0.2), ('detect_fps__lte', 30.0)), name='camera_detect_fps_range'), models.CheckConstraint(condition=models.Q(('confidence_threshold__gte', 0.05), ('confidence_threshold__lte', 0.95)), name='camera_confidence_range'), models.CheckConstraint(condition=models.Q(('name', ''), _negated=True), name='camera_name_not_empty')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
