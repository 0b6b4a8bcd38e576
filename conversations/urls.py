from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("agents/<slug:slug>/new/", views.new_conversation, name="new_conversation"),
    path("c/<str:conversation_id>/", views.conversation, name="conversation"),
    path("c/<str:conversation_id>/attachments/", views.upload_attachment, name="upload_attachment"),
    path("c/<str:conversation_id>/attachments/<str:attachment_id>/", views.attachment, name="attachment"),
]
