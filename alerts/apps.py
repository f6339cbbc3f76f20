from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts import metrics, receivers
        from alerts.signals import alerts_reviewed
        from cameras.signals import camera_status_changed
        from core import collectors

        metrics.connect()  # alerts counted by type, severity and verdict as they are committed
        collectors.register("alerts_open", "alerts.gauges.collect")
        # Open dashboards hear of a camera's status change (sent by its capture process) through a
        # task: the capture process must not import Channels.
        camera_status_changed.connect(receivers.camera_status_changed, dispatch_uid="alerts:push-camera-status")
        alerts_reviewed.connect(receivers.alerts_reviewed, dispatch_uid="alerts:push-reviews")
