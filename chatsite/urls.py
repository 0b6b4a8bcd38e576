from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from conversations import usage_admin

urlpatterns = [
    path("admin/usage/", admin.site.admin_view(usage_admin.site_usage), name="usage"),
    path("admin/usage/<int:agent_id>/", admin.site.admin_view(usage_admin.agent_usage), name="agent_usage"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Only the site's own strings (LOCALE_PATHS); not every installed app's.
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["conversations"]), name="javascript_catalog"),
    path("", include("conversations.urls")),
]
