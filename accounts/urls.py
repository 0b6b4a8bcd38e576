from django.urls import path

from accounts import oidc, views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("oidc/start/", oidc.SignInWithProvider.as_view(), name="oidc_start"),
    path("oidc/callback/", oidc.ProviderCallback.as_view(), name="oidc_callback"),
]
