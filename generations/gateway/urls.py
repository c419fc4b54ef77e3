"""The gateway's paths, under /api/v3/, as WaveSpeed's v3 API names them."""

from django.urls import path

from generations.gateway import views
from generations.wavespeed.contract import MODEL_ID

app_name = "gateway"

urlpatterns = [
    path(MODEL_ID, views.submit, name="submit"),
    path("predictions/<str:prediction_id>/result", views.result, name="result"),
    path("predictions", views.history, name="history"),
    path("balance", views.balance, name="balance"),
    # Not a WaveSpeed path: outputs are the app's stored files, behind the token's check.
    path("outputs/<int:image_id>", views.output, name="output"),
    path("<path:rest>", views.elsewhere, name="elsewhere"),
    path("", views.elsewhere, {"rest": ""}),
]
