from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from conversations import services
from conversations.models import Conversation, Message, ShareLink


class ReadOnlyAdmin(admin.ModelAdmin):
    """Staff read conversations here; nobody edits history."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "role", "status", "content", "error", "tool_calls"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["title", "owner", "agent", "created_at", "updated_at"]
    list_filter = ["agent", "created_at"]
    list_select_related = ["owner", "agent"]
    search_fields = ["title", "owner__username", "id", "upstream_conversation_id"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "role", "status", "created_at"]
    list_filter = ["role", "status", "created_at"]
    list_select_related = ["conversation"]
    search_fields = ["content", "conversation__title", "conversation__id"]


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdmin):
    """Every share link on the site; staff can revoke them. Secrets are never shown."""

    list_display = ["__str__", "created_by", "access", "live", "created_at", "updated_at", "revoked_at"]
    list_filter = ["access", "live", ("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["created_by", "conversation"]
    search_fields = ["title", "conversation__title", "created_by__username"]
    fields = [
        "conversation",
        "created_by",
        "title",
        "access",
        "live",
        "created_at",
        "updated_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke_links"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Viewing is all; the change permission is what the revoke action asks for.
        return request.user.has_perm("conversations.change_sharelink")

    @admin.action(description="Revoke the selected links", permissions=["change"])
    def revoke_links(self, request: HttpRequest, queryset: QuerySet) -> None:
        links = list(queryset.active())
        for link in links:
            services.revoke_share_link(link)
        self.message_user(request, f"Revoked {len(links)} link(s).", messages.SUCCESS)
