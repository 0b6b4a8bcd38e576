from django.contrib import admin

from accounts.models import OpenIDIdentity


@admin.register(OpenIDIdentity)
class OpenIDIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "subject", "issuer", "created_at", "last_sign_in_at")
    search_fields = ("user__username", "user__email", "subject")
    list_filter = ("issuer",)
    readonly_fields = ("user", "issuer", "subject", "created_at", "last_sign_in_at")

    def has_add_permission(self, request) -> bool:
        return False
