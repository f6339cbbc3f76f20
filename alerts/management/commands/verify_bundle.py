"""Check an evidence bundle: every manifest signed by this installation's key, every file unchanged.

    manage.py verify_bundle evidence.zip [--public-key key.pem]
    manage.py verify_bundle --show-key          # the public key to hand to whoever checks bundles

Exits 0 when the whole bundle is intact, 1 (with the first problem found) otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alerts import bundle, signing


class Command(BaseCommand):
    help = "Verify an evidence bundle's signatures and SHA-256 digests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bundle", nargs="?", help="The ZIP exported from the admin or the API.")
        parser.add_argument("--public-key", help="PEM file of the signer's public key (default: this installation's).")
        parser.add_argument("--show-key", action="store_true", help="Print this installation's public key and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["show_key"]:
            self.stdout.write(signing.public_pem().decode(), ending="")
            self.stdout.write(f"fingerprint {signing.fingerprint()}")
            return
        if not options["bundle"]:
            raise CommandError("Give the bundle to check: manage.py verify_bundle evidence.zip")
        path = Path(options["bundle"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        key = None
        if options["public_key"]:
            try:
                key = signing.load_public(Path(options["public_key"]).read_bytes())
            except (OSError, ValueError, signing.SigningKeyError) as exc:
                raise CommandError(f"Cannot read the public key {options['public_key']}: {exc}") from None
        try:
            results = bundle.verify(str(path), key)
        except bundle.BundleInvalid as exc:
            raise CommandError(f"INVALID {path.name}: {exc}") from None
        for item in results:
            self.stdout.write(f"ok alert {item.alert_id}: {item.files} file(s), signed by key {item.signing_key}")
        self.stdout.write(self.style.SUCCESS(f"VALID {path.name}: {len(results)} alert(s)"))
