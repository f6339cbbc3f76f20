from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from core.adminsecrets import SecretFieldsAdminMixin
from core.models import FailedJob

# Django's user admin refuses ?password lookups but not ?auth_token__key__startswith=, which walks to
# the user's API token (its primary key): the shared mixin refuses both.
admin.site.unregister(User)


@admin.register(User)
class GuardedUserAdmin(SecretFieldsAdminMixin, UserAdmin):  # type: ignore[type-arg]
    pass


@admin.register(FailedJob)
class FailedJobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["task_name", "queue", "error_type", "attempts", "failed_at", "replayed_at"]
    list_filter = ["task_name", "queue", "error_type", ("replayed_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_id", "error"]
    date_hierarchy = "failed_at"
    actions = ["replay"]
    readonly_fields = [f.name for f in FailedJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay selected jobs (send the task again with its arguments)")
    def replay(self, request: HttpRequest, queryset: QuerySet[FailedJob]) -> None:
        sent = skipped = 0
        for job in queryset:
            if job.replay():
                sent += 1
            else:
                skipped += 1
        self.message_user(request, f"Replayed {sent} job(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} job(s) had been replayed already.", messages.WARNING)
