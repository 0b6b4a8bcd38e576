from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("search/", views.search, name="search"),
    path("sidebar/", views.sidebar_list, name="sidebar"),
    path("archived/", views.archived_conversations, name="archived_conversations"),
    path("agents/<slug:slug>/new/", views.new_conversation, name="new_conversation"),
    path("c/<str:conversation_id>/", views.conversation, name="conversation"),
    path("c/<str:conversation_id>/messages/", views.conversation_messages, name="conversation_messages"),
    path(
        "c/<str:conversation_id>/messages/<int:message_id>/feedback/",
        views.message_feedback,
        name="message_feedback",
    ),
    path(
        "c/<str:conversation_id>/messages/<int:message_id>/choose/",
        views.choose_version,
        name="choose_version",
    ),
    path("c/<str:conversation_id>/rename/", views.rename_conversation, name="rename_conversation"),
    path("c/<str:conversation_id>/pin/", views.pin_conversation, name="pin_conversation"),
    path("c/<str:conversation_id>/archive/", views.archive_conversation, name="archive_conversation"),
    path("c/<str:conversation_id>/delete/", views.delete_conversation, name="delete_conversation"),
    path(
        "c/<str:conversation_id>/export.<str:file_format>",
        views.export_conversation,
        name="export_conversation",
    ),
    path("c/<str:conversation_id>/share/", views.share_conversation, name="share_conversation"),
    path("shared/", views.shared_links, name="shared_links"),
    path("shared/<int:link_id>/update/", views.update_share_link, name="update_share_link"),
    path("shared/<int:link_id>/revoke/", views.revoke_share_link, name="revoke_share_link"),
    path("s/<str:token>/", views.shared_conversation, name="shared_conversation"),
    path("s/<str:token>/messages/", views.shared_messages, name="shared_messages"),
    path("s/<str:token>/continue/", views.continue_shared, name="continue_shared"),
    path("s/<str:token>/files/<str:attachment_id>/", views.shared_file, name="shared_file"),
    path("c/<str:conversation_id>/attachments/", views.upload_attachment, name="upload_attachment"),
    path("c/<str:conversation_id>/attachments/<str:attachment_id>/", views.attachment, name="attachment"),
]
