"""A logging filter that masks URL credentials and API keys in every record, whatever logged it.

Libraries (FFmpeg via OpenCV, kombu, the DashScope SDK) quote URLs and headers in their messages;
masking at the handler is the one place that catches them all.
"""

from __future__ import annotations

import logging

from core.redact import redact_text


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from django.conf import settings

        message = record.getMessage()
        cleaned = redact_text(message, settings.DASHSCOPE_API_KEYS)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
