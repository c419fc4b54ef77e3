from django.urls import path

from generations.moderation import views

app_name = "moderation"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("history/", views.history, name="history"),
    path("bulk/", views.bulk, name="bulk"),
    path("images/<int:pk>/", views.item, name="item"),
    path("images/<int:pk>/approve/", views.decide, {"action": "approve"}, name="approve"),
    path("images/<int:pk>/reject/", views.decide, {"action": "reject"}, name="reject"),
]
