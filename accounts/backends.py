from django.conf import settings
from django.contrib.auth.backends import ModelBackend


class PasswordBackend(ModelBackend):
    """Username and password sign-in; only superusers keep it when PASSWORD_LOGIN is off."""

    def user_can_authenticate(self, user) -> bool:
        if not settings.PASSWORD_LOGIN and not user.is_superuser:
            return False
        return super().user_can_authenticate(user)
