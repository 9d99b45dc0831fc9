"""Logging in and out, the landing redirect, and the user's own account page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.base import (
    client_address,
    console_blueprint,
    current_user,
    find_current_user,
    home_for,
    log_in,
    log_out,
    require_role,
    safe_next,
)
from hotline.web.context import app_services
from ticketing.exceptions import DomainError
from ticketing.people import accounts

# The console's own blueprint: it also carries the shared templates and static files.
bp = console_blueprint(
    "console",
    "hotline.console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


@bp.get("/")
def index() -> WerkzeugResponse:
    user = find_current_user()
    if user is None:
        return redirect(url_for("console.login"))
    return redirect(home_for(user))


@bp.get("/login")
def login() -> str | WerkzeugResponse:
    user = find_current_user()
    target = safe_next(request.args.get("next"))
    if user is not None:
        return redirect(target or home_for(user))
    return render_template("console/login.html", next=target or "", username="", error="")


@bp.post("/login")
def login_post() -> tuple[str, int] | WerkzeugResponse:
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    target = safe_next(request.form.get("next"))
    error = ""
    if not username or not password:
        error = "Enter your username and password."
    else:
        services = app_services()
        with services.uow() as uow:
            result = accounts.authenticate(
                uow, username, password, services.clock(), client_address()
            )
            if result.user is not None:
                log_in(result.user)
                return redirect(target or home_for(result.user))
            error = result.error
    page = render_template("console/login.html", next=target or "", username=username, error=error)
    return page, 401 if username and password else 400


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    log_out()
    flash("You are logged out.", "info")
    return redirect(url_for("console.login"))


@bp.get("/account")
@require_role()
def account() -> str:
    return render_template("console/account.html", errors={})


@bp.post("/account")
@require_role()
def account_post() -> tuple[str, int] | WerkzeugResponse:
    form = request.form
    errors: dict[str, str] = {}
    if form.get("new_password", "") != form.get("confirm_password", ""):
        errors["confirm_password"] = "The two new passwords differ."  # noqa: S105 - a message
    else:
        services = app_services()
        try:
            with services.uow() as uow:
                user = accounts.change_password(
                    uow,
                    current_user().id,
                    form.get("current_password", ""),
                    form.get("new_password", ""),
                    services.clock(),
                    client_address(),
                )
        except DomainError as exc:
            field = "current_password" if "current" in str(exc) else "new_password"
            errors[field] = str(exc)
        else:
            log_in(user)  # this session stays valid; every other session of the user ends
            flash("Your password is changed.", "success")
            return redirect(url_for("console.account"))
    return render_template("console/account.html", errors=errors), 400
