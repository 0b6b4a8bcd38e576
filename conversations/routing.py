from django.urls import path

from conversations.consumers import ConversationConsumer, SharedConversationConsumer

websocket_urlpatterns = [
    path("ws/conversations/<str:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/share/<str:token>/", SharedConversationConsumer.as_asgi()),
]
