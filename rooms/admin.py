"""Admin for staff. Every change goes through the services, exactly as through the API: the forms
here collect arguments, and ``save_model`` and the actions call the service."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.utils.html import format_html

from . import services
from .errors import SpaceError
from .models import Participant, Space


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    can_delete = False
    fields = ["display_name", "user", "role", "muted", "quiet", "joined_at", "left_at", "removed_at", "blocked"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class SpaceAdminForm(forms.ModelForm):
    """Host, title, description, and a time to schedule (empty: live now)."""

    host = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"))

    class Meta:
        model = Space
        fields = ["host", "title", "description", "record", "scheduled_for"]

    def _post_clean(self):
        # The services validate and write; the model's own full_clean would duplicate them.
        pass


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    form = SpaceAdminForm
    list_display = ["title", "host", "state", "scheduled_for", "started_at", "ended_at", "peak_listeners", "share_link"]
    list_filter = ["state", "record", "started_by", ("scheduled_for", admin.DateFieldListFilter)]
    search_fields = ["title", "description", "code", "host__username"]
    date_hierarchy = "created_at"
    list_select_related = ["host"]
    inlines = [ParticipantInline]
    actions = ["start_now", "end_spaces", "cancel_spaces"]
    readonly_fields = ["code", "state", "share_link", "started_at", "started_by", "ended_at", "peak_listeners", "media_room_id"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["host", "title", "description", "record", "scheduled_for"]
        editable = ["title", "description"]
        if obj.state == Space.State.SCHEDULED:
            editable.append("scheduled_for")
        return [*editable, *self.readonly_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            # The host is chosen once, when the Space is made.
            form.base_fields.pop("host", None)
        return form

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    @admin.display(description="Share page")
    def share_link(self, obj):
        return format_html('<a href="{}" target="_blank" rel="noopener">/s/{}/</a>', obj.get_absolute_url(), obj.code)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            space = services.space_create(
                host=data["host"], title=data["title"], description=data.get("description", ""),
                scheduled_for=data.get("scheduled_for") or None, record=data.get("record", False),
            )
            obj.pk = space.pk
            return
        space = Space.objects.get(pk=obj.pk)
        rescheduled = "scheduled_for" in form.changed_data and data.get("scheduled_for")
        services.space_update(
            space=space, actor=request.user, title=data["title"], description=data.get("description", ""),
            scheduled_for=data["scheduled_for"] if rescheduled else None,
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SpaceError as error:
            self.message_user(request, error.detail, level=messages.ERROR)
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())

    def _apply(self, request, queryset, service, done: str):
        ok = 0
        for space in queryset:
            try:
                service(space=space, actor=request.user)
                ok += 1
            except SpaceError as error:
                self.message_user(request, f"{space.title}: {error.detail}", level=messages.WARNING)
        if ok:
            self.message_user(request, f"{ok} Space(s) {done}.", level=messages.SUCCESS)

    @admin.action(description="Start selected scheduled Spaces now")
    def start_now(self, request, queryset):
        self._apply(request, queryset, services.space_go_live, "started")

    @admin.action(description="End selected live Spaces")
    def end_spaces(self, request, queryset):
        self._apply(request, queryset, services.space_end, "ended")

    @admin.action(description="Cancel selected scheduled Spaces")
    def cancel_spaces(self, request, queryset):
        self._apply(request, queryset, services.space_cancel, "cancelled")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["display_name", "space", "role", "muted", "quiet", "joined_at", "left_at", "removed_at", "blocked"]
    list_filter = ["role", "muted", "quiet", "blocked"]
    search_fields = ["display_name", "user__username", "space__code", "space__title"]
    list_select_related = ["space", "user"]
    readonly_fields = [f.name for f in Participant._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
