from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "Cameras"

    def ready(self) -> None:
        from core import collectors

        collectors.register("cameras_enabled", "cameras.gauges.collect")
