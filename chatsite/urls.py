from django.contrib import admin
from django.urls import include, path

from conversations import usage_admin

urlpatterns = [
    path("admin/usage/", admin.site.admin_view(usage_admin.site_usage), name="usage"),
    path("admin/usage/<int:agent_id>/", admin.site.admin_view(usage_admin.agent_usage), name="agent_usage"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("conversations.urls")),
]
