from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class OpenIDIdentity(models.Model):
    """The identity provider's account behind a site user: matched by issuer and subject, never by name."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="openid_identities",
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_sign_in_at = models.DateTimeField(_("last sign-in at"), auto_now_add=True)

    class Meta:
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_openid_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
