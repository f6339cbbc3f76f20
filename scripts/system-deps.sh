#!/usr/bin/env bash
# Debian packages the tests need: real RTSP servers (GStreamer's, driven from the system Python; VLC's),
# ffmpeg to make a long looping clip for it, promtool (from the prometheus package) to check
# the Prometheus configuration and every metrics endpoint, headless Chromium and its WebDriver for
# the dashboard's browser tests, the Mosquitto MQTT broker (the tests start their own on a free
# port), and RabbitMQ (the Celery broker of compose; its tests use a virtual host of their own).
# Installs only what is missing (needs root).
set -o errexit -o pipefail -o nounset

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" \
    >/dev/null 2>&1; then
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base
         gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
fi
# VLC: an RTSP server that speaks only UDP, as many cameras do (the transport tests run it as nobody).
[ -x /usr/bin/cvlc ] || need+=(vlc-bin vlc-plugin-base)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "[deps] installing ${need[*]}"
  apt-get update -qq
  # Only promtool is wanted from the prometheus package, and the binaries of mosquitto and
  # rabbitmq-server (.ci/run starts RabbitMQ itself): a policy-rc.d that forbids service starts
  # (exit 101, Debian's convention) keeps their postinst from starting servers.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
