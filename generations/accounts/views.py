"""The account page: a person's personal access tokens, made, shown once, and revoked."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from generations.accounts import tokens
from generations.accounts.forms import NewTokenForm
from generations.accounts.models import PersonalAccessToken


@never_cache  # the page that shows a new token once must not be kept by any cache
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_variables("new_token")
def token_list(request: HttpRequest) -> HttpResponse:
    new_token = None
    if request.method == "POST":
        form = NewTokenForm(request.POST)
        if form.is_valid():
            _row, new_token = tokens.issue(
                request.user, form.cleaned_data["name"], form.expires_in_days()
            )
            form = NewTokenForm()
    else:
        form = NewTokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "new_token": tokens.ShownOnce(new_token) if new_token else None,
            "tokens": PersonalAccessToken.objects.owned_by(request.user),
            "api_base": request.build_absolute_uri("/").rstrip("/"),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(PersonalAccessToken.objects.owned_by(request.user), pk=pk)
    if request.method == "POST":
        if tokens.revoke(token, request.user):
            messages.success(request, f"The token “{token.name}” is revoked: it no longer works.")
        else:
            messages.info(request, f"The token “{token.name}” was already revoked.")
        return redirect(reverse("accounts:tokens"))
    return render(request, "accounts/revoke.html", {"token": token})
