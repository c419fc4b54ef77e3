from django.urls import path

from generations import views

app_name = "generations"

urlpatterns = [
    path("", views.playground, name="playground"),
    path("generations/<int:pk>/", views.generation_detail, name="detail"),
    path("gallery/", views.gallery, name="gallery"),
    path("images/<int:pk>/original/", views.image_file, {"variant": "original"},
         name="image-original"),
    path("images/<int:pk>/thumbnail/", views.image_file, {"variant": "thumbnail"},
         name="image-thumbnail"),
    path("healthz", views.healthz, name="healthz"),
]
