from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        from conversations import attachments  # noqa: F401 - connects the file clean-up receiver
