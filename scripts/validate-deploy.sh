#!/usr/bin/env bash
# Check the deployment files without Docker: scripts/validate-deploy.sh [--static]
#   static: compose/docker-compose.yml against the Compose specification's schema (and what the
#           schema cannot see), promtool check config on compose/prometheus (rules included), the
#           Grafana dashboards' JSON, PromQL and metric names (compose/validate.py);
#   then:   promtool check metrics on a real scrape of every kind of endpoint (web, a Celery worker,
#           the capture supervisor, Flower), started from this checkout by pytest. Needs PostgreSQL
#           and Redis like ./test (TEST_DATABASE_URL, TEST_REDIS_URL).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "error: promtool is missing; scripts/system-deps.sh installs it (Debian's prometheus package)" >&2
  exit 1
fi
python=.venv/bin/python
[ -x "$python" ] || python=$(scripts/venv.sh)/bin/python

echo "[deploy] static checks"
"$python" -m compose.validate
if [ "${1:-}" = "--static" ]; then
  exit 0
fi

echo "[deploy] promtool check metrics on real scrapes"
export DJANGO_SETTINGS_MODULE=tests.settings
exec "$python" -m pytest -q -p no:cacheprovider tests/test_observability.py -k promtool
