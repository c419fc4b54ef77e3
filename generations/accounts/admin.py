"""Admin for personal access tokens: staff see everyone's and revoke any; nobody edits one."""

from __future__ import annotations

from django.contrib import admin, messages

from generations.accounts import tokens
from generations.accounts.models import PersonalAccessToken
from generations.plurals import plural


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "key_id", "state", "created_at", "last_used_at", "expires_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "key_id")
    fields = (
        "name",
        "user",
        "key_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ("revoke_tokens",)

    @admin.display(description="State")
    def state(self, token: PersonalAccessToken) -> str:
        return token.state

    # Tokens are made by their owners (or `manage.py issue_token`), which shows the secret;
    # the admin could not show it, and a token changed here would be a new secret unseen.
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    # Revoked, never deleted: the row says who revoked it and when, and which generations
    # came through it.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset) -> None:
        revoked = sum(tokens.revoke(token, request.user) for token in queryset)
        messages.success(request, f"Revoked {plural(revoked, 'token')}.")
