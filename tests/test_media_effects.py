"""What the media server is made to do, and the state it is left in, read from the in-memory
``FakeMediaServer``: the calls it received, in order, and its rooms (the allowed speaker tokens,
who is in the mix under which id, who is muted there, the listeners' PIN) and browser sessions.

The guarantees proved here:

- a Space going live gets a random media room id (not its pk, under 2**52) and a PIN; the host a
  server-assigned id; credentials name those ids (a speaker's ``participant_id`` is their media id);
- every stage change ends in one ``room_sync`` to what the database says: a promotion lets exactly
  the new token in, a demotion takes the token out, puts the id out of the mix and ends the
  person's Janus sessions; removing or blocking someone changes the PIN and ends their sessions;
- a misbehaving browser is undone by the next sync that a Janus event triggers: a forged unmute is
  muted again; a join under any id but one's own (a random one, the absent host's) is put out and
  the Janus session it came from ended; a demoted speaker still in the mix is put out and their
  old token is refused;
- tasks re-read the database, so late ones do no harm; failing calls are retried, and
  ``media_reconcile`` repairs whatever was still left undone (rooms, allowed lists, mutes).

Media tasks run eagerly once the service's transaction commits (the autouse ``media_server``
fixture); Janus's events are posted to ``/media/janus-events/`` as Janus's event handler would.
"""

import base64
import itertools
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from rooms import errors, publisher, selectors, services, tasks
from rooms.identity import Visitor
from rooms.media import MediaError, listener_holder, speaker_holder
from rooms.media.fake import FakeMediaServer
from rooms.media.janus import AUDIOBRIDGE, STREAMING, JanusMediaServer, token_holder
from rooms.models import Participant, Space
from rooms.services.media import MEDIA_ID_LIMIT
from rooms.services.recording import recording_path
from tests.test_replays import write_tone

from .factories import UserFactory

pytestmark = pytest.mark.django_db

Role = Participant.Role


# --- acting as a request would -------------------------------------------------------------------


@pytest.fixture
def act(django_capture_on_commit_callbacks, media_server):
    """A block run as a request runs, its on-commit callbacks (the media tasks) run as it ends.
    Yields the list of media calls made by the block, filled in once it ends."""

    @contextmanager
    def run():
        start = len(media_server.calls)
        made: list[tuple[str, dict]] = []
        with django_capture_on_commit_callbacks(execute=True):
            yield made
        made.extend(media_server.calls[start:])

    return run


@pytest.fixture
def space(host, act):
    with act():
        return services.space_create(host=host, title="On air")


def room_of(media_server, space: Space):
    return media_server.room_state[fresh_space(space).media_room_id]


def fresh(participant: Participant) -> Participant:
    return Participant.objects.get(pk=participant.pk)


def fresh_space(space: Space) -> Space:
    return Space.objects.get(pk=space.pk)


def host_seat(space: Space) -> Participant:
    return space.participants.get(role=Role.HOST)


def join(space: Space, user=None) -> Participant:
    return services.space_join(space=space, visitor=Visitor.of(user or UserFactory()))


def seated(space: Space, host, act, role: str = Role.SPEAKER) -> Participant:
    """Someone invited onto the stage, the room synced to let them in."""
    with act():
        participant = services.participant_set_role(space=space, actor=host, participant=join(space), role=role)
    return fresh(participant)


def reconciled(**counts: int) -> dict:
    """What ``media_reconcile`` reports when the media server answered: how many rooms it opened,
    closed, corrected (people put out or muted) and could not bring in line."""
    return {"reachable": True, "opened": 0, "closed": 0, "corrected": 0, "failed": 0} | counts


def on_stage_sync(space: Space, *, muted: tuple[Participant, ...] = ()) -> tuple[str, dict]:
    """The ``room_sync`` call that makes the room match the stage as the database has it now."""
    seats = [fresh(p) for p in fresh_space(space).participants.on_stage()]
    muted_ids = {fresh(p).media_id for p in muted}
    return (
        "room_sync",
        {
            "room_id": space.media_room_id,
            "speakers": {p.media_id: p.media_id in muted_ids for p in seats},
            "allowed": sorted(p.media_token for p in seats),
        },
    )


# --- a browser, honest or not --------------------------------------------------------------------

_janus_ids = itertools.count(7_000_001)


@dataclass(frozen=True)
class Connection:
    """A browser's Janus session and handle, and the id it joined the mix under."""

    session_id: int
    handle_id: int
    media_id: int


def browser_joins(media_server, space: Space, participant: Participant, *, as_id: int | None = None) -> Connection:
    """Their browser opens a Janus session with the credentials they were given (naming their own
    media id) and joins the mix with their token: under their own id, or under ``as_id``."""
    participant = fresh(participant)
    connection = Connection(next(_janus_ids), next(_janus_ids), as_id or participant.media_id)
    media_server().join_mix(
        room_id=space.media_room_id,
        token=participant.media_token,
        participant_id=connection.media_id,
        session_id=connection.session_id,
        holder=speaker_holder(participant.media_id),
    )
    return connection


def janus_auth(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"janus:{secret}".encode()).decode()}


def audiobridge_event(kind: str, space: Space, connection: Connection | None = None, **data) -> dict:
    """One AudioBridge event as Janus's event handler posts it, from ``connection`` if given."""
    event = {
        "type": 64,
        "event": {"plugin": "janus.plugin.audiobridge", "data": {"event": kind, "room": space.media_room_id, **data}},
    }
    if connection is not None:
        event["event"]["data"].setdefault("id", connection.media_id)
        event |= {"session_id": connection.session_id, "handle_id": connection.handle_id}
    return event


@pytest.fixture
def janus_says(client, settings):
    """Post Janus events to the app, as Janus's event handler does; returns the status code."""

    def post(*events: dict) -> int:
        return client.post(
            "/media/janus-events/", list(events), content_type="application/json", **janus_auth(settings.JANUS["EVENTS_SECRET"])
        ).status_code

    return post


class TestGoingLiveAndEnding:
    def test_a_space_created_live_opens_a_random_room_with_its_pin_and_the_hosts_token_allowed(
        self, host, act, media_server
    ):
        with act() as calls:
            space = services.space_create(host=host, title="Now")
        space = fresh_space(space)
        seat = host_seat(space)
        assert seat.media_token and seat.media_id and seat.media_id != seat.pk
        assert space.media_pin
        assert space.media_room_id != space.pk and 0 < space.media_room_id < MEDIA_ID_LIMIT == 2**52
        assert calls == [
            (
                "room_open",
                {"room_id": space.media_room_id, "allowed": [seat.media_token], "pin": space.media_pin, "record_file": None},
            )
        ]
        room = room_of(media_server, space)
        assert (room.allowed, room.pin) == ({seat.media_token}, space.media_pin)
        browser_joins(media_server, space, seat)
        assert room.mix == {seat.media_id}

    def test_two_spaces_get_different_room_ids_pins_and_host_ids(self, host, act, media_server):
        with act():
            first = services.space_create(host=host, title="One")
            second = services.space_create(host=UserFactory(), title="Two")
        first, second = fresh_space(first), fresh_space(second)
        assert first.media_room_id != second.media_room_id
        assert first.media_pin != second.media_pin
        assert host_seat(first).media_id != host_seat(second).media_id
        assert set(media_server.room_state) == {first.media_room_id, second.media_room_id}

    def test_scheduling_a_space_makes_no_media_call_and_gives_it_no_room(self, host, act):
        with act() as calls:
            space = services.space_create(host=host, title="Later", scheduled_for=timezone.now() + timedelta(hours=1))
        assert calls == []
        assert (space.media_room_id, space.media_pin) == (None, "")

    def test_a_scheduled_space_started_by_its_host_opens_its_room_with_the_hosts_token(self, host, act, media_server):
        space = services.space_create(host=host, title="Later", scheduled_for=timezone.now() + timedelta(hours=1))
        with act() as calls:
            space = services.space_go_live(space=space, actor=host)
        space, seat = fresh_space(space), host_seat(space)
        assert space.media_room_id not in (None, space.pk) and seat.media_id
        assert calls == [
            (
                "room_open",
                {"room_id": space.media_room_id, "allowed": [seat.media_token], "pin": space.media_pin, "record_file": None},
            )
        ]
        assert room_of(media_server, space).allowed == {seat.media_token}

    def test_a_recorded_space_records_its_mix_and_keeps_it_as_the_replay_when_it_ends(
        self, host, act, media_server, settings, tmp_path
    ):
        settings.MEDIA_ROOT = tmp_path
        settings.JANUS = {**settings.JANUS, "RECORDINGS_DIR": str(tmp_path / "recordings")}
        with act() as calls:
            space = services.space_create(host=host, title="Recorded", record=True)
        assert calls[0][1]["record_file"] == str(recording_path(space))
        write_tone(recording_path(space), seconds=2)  # what the media server writes as the room closes
        with act() as calls:
            services.space_end(space=space, actor=host)
        assert calls == [("room_close", {"room_id": space.media_room_id})]
        space.refresh_from_db()
        # Kept as Ogg Opus (tests/test_replays.py has the sizes); the WAV is gone.
        assert space.replay == f"recordings/space-{space.code}.ogg"
        assert (tmp_path / space.replay).read_bytes()[:4] == b"OggS"
        assert not recording_path(space).exists()

    def test_ending_the_space_closes_its_room(self, host, space, act, media_server):
        seated(space, host, act)
        with act() as calls:
            services.space_end(space=space, actor=host)
        assert calls == [("room_close", {"room_id": space.media_room_id})]
        assert media_server.room_state == {}

    def test_an_abandoned_space_ending_closes_its_room_too(self, space, act, media_server):
        Participant.objects.filter(space=space, role=Role.HOST).update(left_at=timezone.now() - timedelta(hours=1))
        with act() as calls:
            services.space_end_if_abandoned(space_id=space.pk)
        assert calls == [("room_close", {"room_id": space.media_room_id})]
        assert media_server.room_state == {}

    def test_an_ended_space_gives_nobody_credentials(self, host, space, act):
        speaker, listener = seated(space, host, act), join(space)
        seat = host_seat(space)
        with act():
            services.space_end(space=space, actor=host)
        space = fresh_space(space)
        for person in (seat, speaker, listener):
            assert selectors.media_credentials(space=space, participant=fresh(person)) is None

    def test_with_media_turned_off_nothing_is_asked_of_the_media_server(self, host, act, settings):
        settings.JANUS = {**settings.JANUS, "ENABLED": False}
        with act() as calls:
            space = services.space_create(host=host, title="Silent")
            person = join(space)
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
            services.participant_set_muted(space=space, actor=host, participant=person, muted=True)
            services.participant_remove(space=space, actor=host, participant=person)
            services.space_end(space=space, actor=host)
        assert calls == []
        assert services.media_reconcile() == {"reachable": False}


class TestCredentials:
    @pytest.fixture(autouse=True)
    def no_turn(self, settings):
        """No TURN server unless a test names one (tests/test_turn.py has the credentials' format)."""
        settings.TURN = {**settings.TURN, "HOST": "", "SECRET": ""}

    def test_a_listener_gets_the_mountpoint_of_the_room_its_pin_and_a_token_naming_them(self, space):
        listener = join(space)
        space = fresh_space(space)
        assert selectors.media_credentials(space=space, participant=listener) == {
            "server": "",
            "ws_port": 0,
            "room": space.media_room_id,
            "kind": "listener",
            "token": f"fake-{listener_holder(listener.uid)}",
            "ice_servers": [],
            "mountpoint": space.media_room_id,
            "pin": space.media_pin,
        }

    def test_a_speaker_gets_their_media_id_as_participant_id_and_a_token_naming_that_id(self, host, space, act):
        speaker = seated(space, host, act)
        assert speaker.media_id != speaker.pk
        credentials = selectors.media_credentials(space=fresh_space(space), participant=speaker)
        assert credentials == {
            "server": "",
            "ws_port": 0,
            "room": space.media_room_id,
            "kind": "speaker",
            "token": f"fake-{speaker_holder(speaker.media_id)}",
            "ice_servers": [],
            "participant_token": speaker.media_token,
            "participant_id": speaker.media_id,
            "display": speaker.uid,
            "muted": False,
        }
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        assert selectors.media_credentials(space=fresh_space(space), participant=fresh(speaker))["muted"] is True

    def test_the_api_hands_out_the_same_ids_pin_and_mute(self, host, space, act, client_for):
        speaker, listener = seated(space, host, act), join(space)
        space = fresh_space(space)
        url = f"/api/spaces/{space.code}/media/"
        heard = client_for(listener.user).get(url).json()["media"]
        assert (heard["kind"], heard["mountpoint"], heard["pin"]) == ("listener", space.media_room_id, space.media_pin)
        spoken = client_for(speaker.user).get(url).json()["media"]
        assert (spoken["kind"], spoken["room"], spoken["participant_id"], spoken["participant_token"], spoken["muted"]) == (
            "speaker", space.media_room_id, speaker.media_id, speaker.media_token, False,
        )

    @pytest.mark.parametrize("server", [JanusMediaServer, FakeMediaServer])
    def test_with_a_turn_server_every_role_gets_a_turn_credential_naming_its_janus_holder(self, host, space, act, settings,
                                                                                        client_for, server):
        settings.TURN = {**settings.TURN, "HOST": "turn.example.org", "SECRET": "turn-secret", "PORT": 3478, "TLS_PORT": 5349}
        speaker, listener = seated(space, host, act), join(space)
        space = fresh_space(space)
        for person, holder in ((listener, listener_holder(listener.uid)), (speaker, speaker_holder(speaker.media_id))):
            credentials = server().credentials(room_id=space.media_room_id, pin=space.media_pin, participant=person)
            [ice] = credentials["ice_servers"]
            assert ice["username"].split(":", 1)[1] == holder
            assert ice["urls"][0] == "turn:turn.example.org:3478?transport=udp"
            if server is JanusMediaServer:
                assert token_holder(credentials["token"]) == holder
        # As the API gives them (the autouse media server is the fake one).
        url = f"/api/spaces/{space.code}/media/"
        [ice] = client_for(listener.user).get(url).json()["media"]["ice_servers"]
        assert set(ice) == {"urls", "username", "credential"} and ice["username"].endswith(f":{listener_holder(listener.uid)}")

    def test_janus_tokens_name_their_holder_and_open_only_their_roles_plugin(self, host, space, act):
        speaker, listener = seated(space, host, act), join(space)
        space, janus = fresh_space(space), JanusMediaServer()
        heard = janus.credentials(room_id=space.media_room_id, pin=space.media_pin, participant=listener)
        spoken = janus.credentials(room_id=space.media_room_id, pin=space.media_pin, participant=speaker)
        assert token_holder(heard["token"]) == listener_holder(listener.uid)
        assert token_holder(spoken["token"]) == speaker_holder(speaker.media_id)
        assert STREAMING in heard["token"] and AUDIOBRIDGE not in heard["token"]
        assert AUDIOBRIDGE in spoken["token"] and STREAMING not in spoken["token"]
        assert (heard["pin"], spoken["participant_id"]) == (space.media_pin, speaker.media_id)
        forged = spoken["token"].replace(speaker_holder(speaker.media_id), speaker_holder(host_seat(space).media_id))
        assert token_holder(forged) is None

    def test_someone_moved_back_to_the_listeners_gets_listener_credentials(self, host, space, act):
        speaker = seated(space, host, act)
        with act():
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        credentials = selectors.media_credentials(space=fresh_space(space), participant=fresh(speaker))
        assert credentials["kind"] == "listener" and "participant_id" not in credentials


class TestStage:
    def test_inviting_a_listener_to_speak_seats_them_with_a_fresh_token_and_id_and_syncs_the_room(
        self, host, space, act, media_server
    ):
        person = join(space)
        with act() as calls:
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        person, seat = fresh(person), host_seat(space)
        assert person.media_token and person.media_token != seat.media_token
        assert person.media_id and person.media_id not in (seat.media_id, person.pk) and person.media_id < 2**52
        assert calls == [on_stage_sync(space)]
        assert calls[0][1]["speakers"] == {seat.media_id: False, person.media_id: False}
        room = room_of(media_server, space)
        assert room.allowed == {seat.media_token, person.media_token}
        browser_joins(media_server, space, person)
        assert person.media_id in room.mix

    def test_a_listener_made_cohost_is_seated_too(self, host, space, act, media_server):
        person = join(space)
        with act() as calls:
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.COHOST)
        person = fresh(person)
        assert person.media_token and person.media_id
        assert calls == [on_stage_sync(space)]
        assert person.media_token in room_of(media_server, space).allowed

    @pytest.mark.parametrize("role", [Role.SPEAKER, Role.COHOST])
    def test_moving_someone_back_takes_their_token_and_id_out_of_the_room_and_ends_their_sessions(
        self, host, space, act, media_server, role
    ):
        speaker = seated(space, host, act, role)
        browser_joins(media_server, space, speaker)
        bystander = seated(space, host, act)
        browser_joins(media_server, space, bystander)
        with act() as calls:
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        assert calls == [
            on_stage_sync(space),
            ("revoke_sessions", {"holders": [speaker_holder(speaker.media_id)]}),
        ]
        room = room_of(media_server, space)
        assert room.mix == {bystander.media_id}
        assert room.allowed == {host_seat(space).media_token, bystander.media_token}
        assert (fresh(speaker).media_token, fresh(speaker).media_id) == ("", None)
        assert list(media_server.sessions.values()) == [speaker_holder(bystander.media_id)]
        with pytest.raises(MediaError):
            media_server().join_mix(room_id=space.media_room_id, token=speaker.media_token, participant_id=speaker.media_id)

    def test_invited_again_they_get_a_fresh_token_and_id_and_the_old_ones_stay_out(self, host, space, act, media_server):
        first = seated(space, host, act)
        with act():
            services.participant_set_role(space=space, actor=host, participant=first, role=Role.LISTENER)
        with act() as calls:
            services.participant_set_role(space=space, actor=host, participant=first, role=Role.SPEAKER)
        again = fresh(first)
        assert again.media_token not in ("", first.media_token)
        assert again.media_id not in (None, first.media_id)
        assert calls == [on_stage_sync(space)]
        room = room_of(media_server, space)
        assert first.media_token not in room.allowed and again.media_token in room.allowed
        assert first.media_id not in calls[0][1]["speakers"]

    @pytest.mark.parametrize("new_role", [Role.COHOST, Role.SPEAKER], ids=["appointed", "revoked"])
    def test_changing_between_speaker_and_cohost_keeps_the_seat(self, host, space, act, media_server, new_role):
        old_role = Role.SPEAKER if new_role == Role.COHOST else Role.COHOST
        speaker = seated(space, host, act, old_role)
        browser_joins(media_server, space, speaker)
        with act() as calls:
            services.participant_set_role(space=space, actor=host, participant=speaker, role=new_role)
        assert calls == []
        assert (fresh(speaker).media_token, fresh(speaker).media_id) == (speaker.media_token, speaker.media_id)
        assert speaker.media_id in room_of(media_server, space).mix

    def test_the_host_muting_a_speaker_mutes_them_in_the_mix(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        with act() as calls:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        assert calls == [on_stage_sync(space, muted=(speaker,))]
        assert calls[0][1]["speakers"][speaker.media_id] is True
        assert room_of(media_server, space).muted == {speaker.media_id}

    def test_the_host_unmuting_a_speaker_unmutes_them_in_the_mix_by_their_media_id(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        with act() as calls:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=False)
        assert calls == [("speaker_unmute", {"room_id": space.media_room_id, "participant_id": speaker.media_id})]
        assert room_of(media_server, space).muted == set()

    def test_a_mute_set_before_the_speaker_joins_the_mix_is_applied_when_janus_says_they_joined(
        self, host, space, act, media_server, janus_says
    ):
        speaker = seated(space, host, act)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        assert room_of(media_server, space).muted == set()  # not in the mix yet: nothing to mute
        connection = browser_joins(media_server, space, speaker)
        with act() as calls:
            assert janus_says(audiobridge_event("joined", space, connection)) == 204
        assert calls == [
            ("holder_of", {"session_id": connection.session_id, "handle_id": connection.handle_id}),
            on_stage_sync(space, muted=(speaker,)),
        ]
        assert room_of(media_server, space).muted == {speaker.media_id}

    def test_a_speaker_joining_honestly_is_left_as_they_are(self, host, space, act, media_server, janus_says):
        speaker = seated(space, host, act)
        host_joined = browser_joins(media_server, space, host_seat(space))
        connection = browser_joins(media_server, space, speaker)
        with act() as calls:
            janus_says(audiobridge_event("joined", space, host_joined), audiobridge_event("joined", space, connection))
        assert {"speaker_kick", "session_end"}.isdisjoint(name for name, _ in calls)
        room = room_of(media_server, space)
        assert (room.mix, room.muted) == ({host_seat(space).media_id, speaker.media_id}, set())

    @pytest.mark.parametrize("block", [False, True], ids=["removed", "blocked"])
    def test_removing_a_speaker_takes_them_out_of_the_room_changes_the_pin_and_ends_their_sessions(
        self, host, space, act, media_server, block
    ):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        old_pin = fresh_space(space).media_pin
        with act() as calls:
            services.participant_remove(space=space, actor=host, participant=speaker, block=block)
        new_pin = fresh_space(space).media_pin
        assert new_pin and new_pin != old_pin
        assert calls == [
            on_stage_sync(space),
            ("revoke_sessions", {"holders": [speaker_holder(speaker.media_id)]}),
            ("listeners_repin", {"room_id": space.media_room_id, "pin": new_pin}),
            ("revoke_sessions", {"holders": [listener_holder(speaker.uid)]}),
        ]
        room = room_of(media_server, space)
        assert speaker.media_id not in room.mix and speaker.media_token not in room.allowed
        assert room.pin == new_pin
        assert media_server.sessions == {}

    @pytest.mark.parametrize("block", [False, True], ids=["removed", "blocked"])
    def test_removing_a_listener_changes_the_pin_and_ends_their_sessions_only(
        self, host, space, act, media_server, block
    ):
        removed, staying = join(space), join(space)
        media_server.sessions.update({101: listener_holder(removed.uid), 102: listener_holder(staying.uid)})
        old_pin = fresh_space(space).media_pin
        with act() as calls:
            services.participant_remove(space=space, actor=host, participant=removed, block=block)
        space = fresh_space(space)
        assert space.media_pin and space.media_pin != old_pin
        assert calls == [
            ("listeners_repin", {"room_id": space.media_room_id, "pin": space.media_pin}),
            ("revoke_sessions", {"holders": [listener_holder(removed.uid)]}),
        ]
        assert room_of(media_server, space).pin == space.media_pin
        assert media_server.sessions == {102: listener_holder(staying.uid)}
        assert selectors.media_credentials(space=space, participant=fresh(staying))["pin"] == space.media_pin

    def test_a_speaker_leaving_gives_their_seat_back(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        with act() as calls:
            services.space_leave(space=space, participant=speaker)
        assert calls == [on_stage_sync(space), ("revoke_sessions", {"holders": [speaker_holder(speaker.media_id)]})]
        room = room_of(media_server, space)
        assert speaker.media_token not in room.allowed and speaker.media_id not in room.mix

    def test_the_host_stepping_away_keeps_their_seat_in_the_room(self, space, act, media_server):
        seat = host_seat(space)
        with act() as calls:
            services.space_leave(space=space, participant=seat)
        assert calls == []
        assert seat.media_token in room_of(media_server, space).allowed
        assert fresh(seat).media_id == seat.media_id


class TestMisbehavingClients:
    """Whatever a browser sends Janus, the next sync (triggered by the event Janus posts about it)
    puts the room back to what the database says."""

    def test_a_speaker_who_unmutes_themself_after_the_host_muted_them_is_muted_again(
        self, host, space, act, media_server, janus_says
    ):
        speaker = seated(space, host, act)
        connection = browser_joins(media_server, space, speaker)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        room = room_of(media_server, space)
        assert room.muted == {speaker.media_id}
        media_server().self_unmute(room_id=space.media_room_id, participant_id=speaker.media_id)  # a forged configure
        assert room.muted == set()
        with act() as calls:
            assert janus_says(audiobridge_event("configured", space, connection, muted=False)) == 204
        assert calls == [on_stage_sync(space, muted=(speaker,))]
        assert room.muted == {speaker.media_id}

    def test_a_speaker_joining_under_a_random_id_is_put_out_and_their_own_id_stays(
        self, host, space, act, media_server, janus_says
    ):
        speaker = seated(space, host, act)
        honest = browser_joins(media_server, space, speaker)
        stray_id = speaker.media_id + 1
        stray = browser_joins(media_server, space, speaker, as_id=stray_id)
        room = room_of(media_server, space)
        assert room.mix == {speaker.media_id, stray_id}
        with act() as calls:
            janus_says(audiobridge_event("joined", space, stray))
        assert [c for c in calls if c[0] in ("session_end", "speaker_kick")] == [
            ("session_end", {"session_id": stray.session_id}),
            ("speaker_kick", {"room_id": space.media_room_id, "participant_id": stray_id}),
        ]
        assert room.mix == {speaker.media_id}
        assert list(media_server.sessions) == [honest.session_id]  # the stray's connection ended

    def test_a_stray_id_the_join_check_cannot_attribute_is_put_out_by_the_sync(
        self, host, space, act, media_server, janus_says
    ):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        stray_id = speaker.media_id + 1
        media_server().join_mix(room_id=space.media_room_id, token=speaker.media_token, participant_id=stray_id)
        unknown = Connection(session_id=next(_janus_ids), handle_id=next(_janus_ids), media_id=stray_id)
        with act() as calls:
            janus_says(audiobridge_event("joined", space, unknown))
        assert [name for name, _ in calls] == ["holder_of", "room_sync"]  # no holder known: no kick of its own
        assert room_of(media_server, space).mix == {speaker.media_id}

    def test_a_speaker_joining_under_the_absent_hosts_id_is_put_out_and_the_host_gets_in(
        self, host, space, act, media_server, janus_says
    ):
        speaker, seat = seated(space, host, act), host_seat(space)
        browser_joins(media_server, space, speaker)
        impostor = browser_joins(media_server, space, speaker, as_id=seat.media_id)
        room = room_of(media_server, space)
        assert seat.media_id in room.mix  # the host's id, taken by the speaker
        with act() as calls:
            janus_says(audiobridge_event("joined", space, impostor))
        assert [c for c in calls if c[0] in ("session_end", "speaker_kick")] == [
            ("session_end", {"session_id": impostor.session_id}),
            ("speaker_kick", {"room_id": space.media_room_id, "participant_id": seat.media_id}),
        ]
        assert room.mix == {speaker.media_id}
        assert impostor.session_id not in media_server.sessions
        # The host's own browser joins under that id: kept.
        with act() as calls:
            janus_says(audiobridge_event("joined", space, browser_joins(media_server, space, seat)))
        assert {"speaker_kick", "session_end"}.isdisjoint(name for name, _ in calls)
        assert room.mix == {speaker.media_id, seat.media_id}

    def test_a_demoted_speaker_still_in_the_mix_is_put_out_and_their_old_token_refused(
        self, host, space, act, media_server, janus_says
    ):
        speaker = seated(space, host, act)
        connection = browser_joins(media_server, space, speaker)
        room = room_of(media_server, space)
        # The demotion's sync was lost (a broker hiccup): only the database knows for now.
        Participant.objects.filter(pk=speaker.pk).update(role=Role.LISTENER, media_token="", media_id=None)
        assert speaker.media_id in room.mix
        with act():
            janus_says(audiobridge_event("configured", space, connection, muted=False))
        assert speaker.media_id not in room.mix and speaker.media_token not in room.allowed
        with pytest.raises(MediaError):
            media_server().join_mix(room_id=space.media_room_id, token=speaker.media_token, participant_id=speaker.media_id)

    def test_a_late_leaving_event_also_puts_the_room_in_line(self, host, space, act, media_server, janus_says):
        speaker = seated(space, host, act)
        connection = browser_joins(media_server, space, speaker)
        media_server().join_mix(room_id=space.media_room_id, token=speaker.media_token, participant_id=12345)
        with act() as calls:
            janus_says(audiobridge_event("leaving", space, connection))
        assert calls == [on_stage_sync(space)]
        assert room_of(media_server, space).mix == {speaker.media_id}


class TestRefusedActions:
    def test_a_cohost_appointing_a_cohost_makes_no_media_call(self, host, space, act):
        cohost = seated(space, host, act, Role.COHOST)
        person = join(space)
        with act() as calls, pytest.raises(errors.NotPermitted):
            services.participant_set_role(space=space, actor=cohost.user, participant=person, role=Role.COHOST)
        assert calls == []

    def test_a_listener_inviting_someone_makes_no_media_call(self, space, act):
        actor, person = join(space), join(space)
        with act() as calls, pytest.raises(errors.NotPermitted):
            services.participant_set_role(space=space, actor=actor.user, participant=person, role=Role.SPEAKER)
        assert calls == []
        assert (fresh(person).media_token, fresh(person).media_id) == ("", None)

    def test_a_full_stage_makes_no_media_call(self, host, space, act, settings):
        settings.SPACES_MAX_SPEAKERS = 2
        seated(space, host, act)
        person = join(space)
        with act() as calls, pytest.raises(errors.SpeakerLimit):
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        assert calls == []
        assert (fresh(person).media_token, fresh(person).media_id) == ("", None)

    def test_a_cohost_muting_the_host_makes_no_media_call(self, host, space, act):
        cohost = seated(space, host, act, Role.COHOST)
        with act() as calls, pytest.raises(errors.NotPermitted):
            services.participant_set_muted(space=space, actor=cohost.user, participant=host_seat(space), muted=True)
        assert calls == []

    def test_a_cohost_removing_the_host_changes_no_pin(self, host, space, act):
        cohost = seated(space, host, act, Role.COHOST)
        pin = fresh_space(space).media_pin
        with act() as calls, pytest.raises(errors.NotPermitted):
            services.participant_remove(space=space, actor=cohost.user, participant=host_seat(space))
        assert calls == []
        assert fresh_space(space).media_pin == pin

    def test_an_update_that_fails_halfway_revokes_nobody(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        with act() as calls, pytest.raises(errors.Conflict):
            services.participant_update(space=space, actor=host, participant=speaker, role=Role.LISTENER, muted=True)
        assert calls == []
        assert speaker.media_id in room_of(media_server, space).mix
        assert fresh(speaker).media_id == speaker.media_id


class TestLateTasks:
    def test_a_sync_queued_by_a_promotion_that_runs_after_the_demotion_lets_nobody_back(
        self, host, space, act, media_server, django_capture_on_commit_callbacks
    ):
        person = join(space)
        with django_capture_on_commit_callbacks() as promotion:  # queued, not run yet
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        token = fresh(person).media_token
        with act():
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.LISTENER)
        for late in promotion:
            late()
        assert media_server.calls[-1] == on_stage_sync(space)
        assert room_of(media_server, space).allowed == {host_seat(space).media_token}
        assert token not in room_of(media_server, space).allowed

    def test_a_sync_that_runs_after_the_space_ended_does_nothing(self, host, space, act, media_server):
        seated(space, host, act)
        with act():
            services.space_end(space=space, actor=host)
        media_server.calls.clear()
        assert services.media_room_sync(space_id=space.pk) is None
        assert services.media_listeners_repin(space_id=space.pk) is False
        assert services.media_join_check(room_id=space.media_room_id, media_id=1, session_id=2, handle_id=3) is None
        assert media_server.calls == []

    def test_an_unmute_that_runs_after_the_host_muted_again_does_nothing(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        with act() as calls:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=False)
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        # The three tasks ran in order once it all committed: the unmute found them muted again.
        assert [name for name, _ in calls] == ["room_sync", "room_sync"]
        assert room_of(media_server, space).muted == {speaker.media_id}
        media_server.calls.clear()
        assert services.media_speaker_unmute(participant_id=speaker.pk) is False
        assert media_server.calls == []

    def test_an_unmute_for_someone_no_longer_on_stage_does_nothing(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        with act():
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        media_server.calls.clear()
        assert services.media_speaker_unmute(participant_id=speaker.pk) is False
        assert media_server.calls == []


class TestReconcile:
    def test_a_live_space_whose_room_is_missing_gets_it_back_with_its_pin_and_everyone_on_stage(
        self, host, space, act, media_server
    ):
        speaker = seated(space, host, act)
        media_server.reset()  # the media server restarted and lost its rooms
        assert services.media_reconcile() == reconciled(opened=1)
        space = fresh_space(space)
        tokens = sorted([host_seat(space).media_token, speaker.media_token])
        assert media_server.calls == [
            ("rooms", {}),
            ("room_open", {"room_id": space.media_room_id, "allowed": tokens, "pin": space.media_pin, "record_file": None}),
            on_stage_sync(space),
        ]
        room = room_of(media_server, space)
        assert (room.allowed, room.pin) == (set(tokens), space.media_pin)

    def test_a_live_room_that_drifted_is_brought_back_in_line(self, host, space, act, media_server):
        speaker, muted, demoted = seated(space, host, act), seated(space, host, act), seated(space, host, act)
        for person in (speaker, muted, demoted):
            browser_joins(media_server, space, person)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=muted, muted=True)
        # What the media server missed: a demotion whose sync never ran, a forged unmute, a stray
        # id and a stray token.
        Participant.objects.filter(pk=demoted.pk).update(role=Role.LISTENER, media_token="", media_id=None)
        media_server().self_unmute(room_id=space.media_room_id, participant_id=muted.media_id)
        media_server().join_mix(room_id=space.media_room_id, token=speaker.media_token, participant_id=424242)
        room = room_of(media_server, space)
        room.allowed.add("a-token-nobody-holds")
        media_server.calls.clear()
        assert services.media_reconcile() == reconciled(corrected=3)
        # Reopening an existing room is idempotent and repairing (PIN, forward); then the sync.
        assert media_server.call_names() == ["rooms", "room_open", "room_sync"]
        assert media_server.calls[2] == on_stage_sync(space, muted=(muted,))
        assert room.mix == {speaker.media_id, muted.media_id}
        assert room.muted == {muted.media_id}
        assert room.allowed == {host_seat(space).media_token, speaker.media_token, muted.media_token}

    def test_a_room_whose_space_ended_is_closed(self, host, space, media_server):
        # Ended without its close task ever running (the broker lost it).
        services.space_end(space=space, actor=host)
        media_server.calls.clear()
        assert services.media_reconcile() == reconciled(closed=1)
        assert media_server.calls == [("rooms", {}), ("room_close", {"room_id": space.media_room_id})]
        assert media_server.room_state == {}

    def test_rooms_that_match_the_database_are_left_as_they_are(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        room = room_of(media_server, space)
        before = (set(room.allowed), set(room.mix), set(room.muted), room.pin)
        media_server.calls.clear()
        assert services.media_reconcile() == reconciled()
        assert media_server.call_names() == ["rooms", "room_open", "room_sync"]
        assert media_server.calls[2] == on_stage_sync(space)
        assert (room.allowed, room.mix, room.muted, room.pin) == before

    def test_a_room_that_fails_does_not_stop_the_others(self, host, space, act, media_server, monkeypatch):
        from rooms.media.fake import FakeMediaServer

        with act():
            other = services.space_create(host=UserFactory(), title="Elsewhere")
        speaker = seated(other, other.host, act)
        browser_joins(media_server, other, speaker)
        media_server().join_mix(room_id=other.media_room_id, token=speaker.media_token, participant_id=424242)
        real = FakeMediaServer.room_sync

        def broken_for_the_first_room(self, **kwargs):
            if kwargs["room_id"] == space.media_room_id:
                raise MediaError("this room is broken")
            return real(self, **kwargs)

        monkeypatch.setattr(FakeMediaServer, "room_sync", broken_for_the_first_room)
        assert services.media_reconcile() == reconciled(corrected=1, failed=1)
        assert room_of(media_server, other).mix == {speaker.media_id}

    def test_an_unreachable_media_server_is_reported_and_nothing_else_is_tried(self, space, media_server):
        media_server.calls.clear()
        media_server.failing = True
        assert services.media_reconcile() == {"reachable": False}
        assert media_server.call_names() == ["rooms"]


class TestFailingMediaServer:
    def test_the_invitation_stands_and_its_event_goes_out_while_the_sync_is_retried(
        self, host, space, act, media_server, caplog
    ):
        person = join(space)
        media_server.failing = True
        caplog.set_level(logging.INFO, logger="celery.app.trace")
        with publisher.capture() as frames, act() as calls:
            result = services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        assert result.role == Role.SPEAKER
        person = fresh(person)
        assert (person.role, bool(person.media_token), bool(person.media_id)) == (Role.SPEAKER, True, True)
        assert [f["type"] for f in frames] == ["participant.role_changed"]
        # One attempt, then every retry Celery allows, each a call the media server received.
        attempts = 1 + tasks.media_room_sync_task.max_retries
        assert calls == [on_stage_sync(space)] * attempts
        retried = [r for r in caplog.records if r.name == "celery.app.trace" and "retry" in r.getMessage()]
        assert len(retried) == tasks.media_room_sync_task.max_retries
        gave_up = [r for r in caplog.records if r.name == "celery.app.trace" and r.levelno == logging.ERROR]
        assert len(gave_up) == 1 and gave_up[0].exc_info[0] is MediaError
        # The media server back, the next reconcile lets them in.
        media_server.failing = False
        assert services.media_reconcile()["reachable"] is True
        assert person.media_token in room_of(media_server, space).allowed

    def test_a_space_still_goes_live_when_its_room_cannot_be_opened_and_reconcile_opens_it_later(
        self, host, act, media_server
    ):
        media_server.failing = True
        with publisher.capture() as frames, act():
            space = services.space_create(host=host, title="Janus is down")
        space = fresh_space(space)
        assert space.state == "live" and space.media_room_id
        assert [f["type"] for f in frames] == ["space.started"]
        assert media_server.room_state == {}
        media_server.failing = False
        assert services.media_reconcile()["opened"] == 1
        room = room_of(media_server, space)
        assert (room.allowed, room.pin) == ({host_seat(space).media_token}, space.media_pin)

    def test_a_sync_that_fails_once_lands_on_the_retry(self, host, space, act, media_server, monkeypatch):
        from rooms.media.fake import FakeMediaServer

        real = FakeMediaServer.room_sync
        failures = iter([MediaError("connection reset")])

        def flaky(self, **kwargs):
            error = next(failures, None)
            if error:
                raise error
            return real(self, **kwargs)

        monkeypatch.setattr(FakeMediaServer, "room_sync", flaky)
        person = join(space)
        with act():
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        assert fresh(person).media_token in room_of(media_server, space).allowed

    def test_a_mute_stands_in_the_room_when_the_media_server_fails(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        media_server.failing = True
        with publisher.capture() as frames, act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        assert fresh(speaker).muted is True
        assert [(f["type"], f["data"]["participant"]["muted"]) for f in frames] == [("participant.muted", True)]
        media_server.failing = False
        services.media_reconcile()
        assert room_of(media_server, space).muted == {speaker.media_id}

    def test_a_demotion_whose_sync_exhausted_its_retries_is_repaired_by_the_next_reconcile(
        self, host, space, act, media_server
    ):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        media_server.failing = True
        with act():
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        room = room_of(media_server, space)
        assert speaker.media_token in room.allowed and speaker.media_id in room.mix  # not repaired yet
        media_server.failing = False
        services.media_reconcile()
        assert speaker.media_token not in room.allowed
        assert speaker.media_id not in room.mix

    def test_a_forged_unmute_whose_correction_failed_is_repaired_by_the_next_reconcile(
        self, host, space, act, media_server, janus_says
    ):
        speaker = seated(space, host, act)
        connection = browser_joins(media_server, space, speaker)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        media_server().self_unmute(room_id=space.media_room_id, participant_id=speaker.media_id)
        media_server.failing = True
        assert janus_says(audiobridge_event("configured", space, connection, muted=False)) == 204
        assert room_of(media_server, space).muted == set()
        media_server.failing = False
        assert services.media_reconcile()["corrected"] == 1
        assert room_of(media_server, space).muted == {speaker.media_id}

    def test_a_pin_change_that_exhausted_its_retries_is_repaired_by_the_next_reconcile(
        self, host, space, act, media_server
    ):
        removed = join(space)
        media_server.failing = True
        with act():
            services.participant_remove(space=space, actor=host, participant=removed, block=True)
        media_server.failing = False
        services.media_reconcile()
        assert room_of(media_server, space).pin == fresh_space(space).media_pin
