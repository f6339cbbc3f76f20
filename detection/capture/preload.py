"""What the fork server loads once, so that camera processes share these memory pages.

Camera processes are forked from a server (multiprocessing's "forkserver") that has set Django up and
imported the capture loop, instead of each paying for its own copy: Django with every installed app
is about 65 MB of Python objects, most of a camera process. The server holds no sockets, threads or
database connections to inherit: Django's set-up opens none, and tracing's exporter thread, if
tracing is on, is stopped here and started by each camera process (detection/capture/process.py).

``gc.freeze()`` moves everything loaded here out of the collector's reach: a collection in a child
would otherwise write to every object's header and un-share the pages.
"""

import gc
import os

import cv2  # noqa: F401
import numpy  # noqa: F401

if os.environ.get("DJANGO_SETTINGS_MODULE"):
    import django

    django.setup()

    import detection.capture.camera
    import detection.capture.dispatch
    import detection.capture.reader
    import detection.capture.recorder
    import detection.capture.strip  # noqa: F401
    from core import tracing

    tracing.disable()

gc.freeze()
