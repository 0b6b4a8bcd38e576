from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("agents/<slug:slug>/new/", views.new_conversation, name="new_conversation"),
    path("c/<str:conversation_id>/", views.conversation, name="conversation"),
]
