from django.contrib import admin
from django.http import HttpRequest

from conversations.models import Conversation, Message


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
