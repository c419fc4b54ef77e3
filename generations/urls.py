from django.urls import path

from generations import views

app_name = "generations"

urlpatterns = [
    path("", views.playground, name="playground"),
    path("studio/jobs/", views.studio_jobs, name="studio-jobs"),
    path("generations/<int:pk>/", views.generation_detail, name="detail"),
    path("generations/<int:pk>/favourite/", views.favourite, name="favourite"),
    path("generations/<int:pk>/visibility/", views.change_visibility, name="visibility"),
    path("generations/<int:pk>/delete/", views.delete, name="delete"),
    path("gallery/", views.gallery, name="gallery"),
    path("usage/", views.usage_page, name="usage"),
    path(
        "images/<int:pk>/original/",
        views.image_file,
        {"variant": "original"},
        name="image-original",
    ),
    path(
        "images/<int:pk>/thumbnail/",
        views.image_file,
        {"variant": "thumbnail"},
        name="image-thumbnail",
    ),
    path(
        "images/<int:pk>/display/",
        views.image_file,
        {"variant": "display"},
        name="image-display",
    ),
    path("images/<int:pk>/report/", views.report, name="report"),
    # provider.WEBHOOK_PATH: the URL every submit gives the API to call back.
    path("webhooks/wavespeed/", views.wavespeed_webhook, name="wavespeed-webhook"),
]
