from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.oidc import provider_logout_url, sso_enabled

SSO_PROBLEMS = {
    "failed": _("Single sign-on did not complete. Try again, or ask an admin to check your account."),
    "unavailable": _("The sign-in service cannot be reached right now. Try again in a moment."),
}


class SignInView(auth_views.LoginView):
    """The sign-in page: the company's provider first when it is set up, passwords where allowed."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            sso_enabled=sso_enabled(),
            sso_name=settings.OIDC_PROVIDER_NAME or _("your company account"),
            password_login=settings.PASSWORD_LOGIN,
            sso_problem=SSO_PROBLEMS.get(self.request.GET.get("sso", "")),
            opening_shared_link=leads_to_shared_link(self.get_redirect_url()),
        )
        return context


def leads_to_shared_link(next_url: str) -> bool:
    """Whether signing in returns to a members-only share link (the page then says why it asks)."""
    if not next_url:
        return False
    try:
        return resolve(next_url.split("?", 1)[0]).url_name == "shared_conversation"
    except (Resolver404, Http404):
        return False


@require_POST
def sign_out(request: HttpRequest) -> HttpResponseRedirect:
    """End the site session, and the provider's too where it offers an end-session endpoint."""
    provider_url = provider_logout_url(request)
    logout(request)
    return HttpResponseRedirect(provider_url or reverse(settings.LOGOUT_REDIRECT_URL))
