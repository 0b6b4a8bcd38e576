from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.http import content_disposition_header
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from conversations import services
from conversations.feedback import feedback_csv
from conversations.models import Conversation, Feedback, Message, ShareLink


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

    @admin.action(description=gettext_lazy("Revoke the selected links"), permissions=["change"])
    def revoke_links(self, request: HttpRequest, queryset: QuerySet) -> None:
        links = list(queryset.active())
        for link in links:
            services.revoke_share_link(link)
        self.message_user(
            request,
            ngettext("Revoked %(count)d link.", "Revoked %(count)d links.", len(links))
            % {"count": len(links)},
            messages.SUCCESS,
        )


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    """What members thought of replies, per agent; the CSV holds what the list shows under its filters."""

    list_display = ["updated_at", "agent", "rating_shown", "comment_shown", "user", "message"]
    list_filter = ["agent", "rating", ("comment", admin.EmptyFieldListFilter), "updated_at"]
    list_select_related = ["agent", "user", "message"]
    search_fields = ["comment", "message__content", "user__username"]
    date_hierarchy = "updated_at"
    fields = ["agent", "user", "rating", "comment", "message", "created_at", "updated_at"]
    readonly_fields = fields
    actions = ["download_csv"]
    change_list_template = "admin/conversations/feedback/change_list.html"

    def get_urls(self):
        export = self.admin_site.admin_view(self.csv_view)
        return [path("csv/", export, name="conversations_feedback_csv"), *super().get_urls()]

    @admin.display(description=gettext_lazy("Rating"), ordering="rating")
    def rating_shown(self, feedback: Feedback) -> str:
        return "👍 " + _("Up") if feedback.rating == Feedback.Rating.UP else "👎 " + _("Down")

    @admin.display(description=gettext_lazy("Comment"))
    def comment_shown(self, feedback: Feedback) -> str:
        return Truncator(feedback.comment).chars(120) or "–"

    def csv_view(self, request: HttpRequest) -> HttpResponse:
        """The list as filtered on the page (the same query string), as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        shown = self.get_changelist_instance(request).get_queryset(request)
        return csv_response(shown)

    @admin.action(description=gettext_lazy("Download the selected feedback as CSV"), permissions=["view"])
    def download_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return csv_response(queryset)


def csv_response(feedback: QuerySet) -> HttpResponse:
    rows = feedback.select_related("agent", "user", "message__conversation").order_by("-updated_at")
    response = HttpResponse(feedback_csv(rows.iterator()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename="feedback.csv")
    return response
