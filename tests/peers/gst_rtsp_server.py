"""Debian's GStreamer RTSP server on loopback: the real peer of the RTSP client tests.

Run it with Debian's ``/usr/bin/python3`` (the ``gi`` bindings are not in the venv):

    /usr/bin/python3 tests/peers/gst_rtsp_server.py [--auth none|basic|digest] [--user NAME]

The password comes from the environment variable ``GST_RTSP_TEST_PASSWORD`` (not argv, which
``ps`` shows).  It serves ``/test`` (H.264, 640x360, 10 fps, a test pattern) on 127.0.0.1 at
a free port, one pipeline per client (``set_shared(False)``: shared media aborted under many
concurrent DESCRIBEs on GStreamer 1.22, see PEERS.md), listen backlog 128.  With ``--auth``,
only the named user may access the mount.

Protocol with the parent on stdout: ``READY <port>`` once listening, or ``MISSING <reason>``
(exit status 3) when GStreamer or its bindings are not installed.  It exits on SIGTERM,
SIGINT, or when its stdin reaches EOF (so it never outlives a crashed test run).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,width=640,height=360,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
    "! rtph264pay name=pay0 pt=96 )"
)
ROLE = "user"
MISSING_EXIT_STATUS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auth", choices=("none", "basic", "digest"), default="none")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--mount", default="/test")
    args = parser.parse_args()
    password = os.environ.get("GST_RTSP_TEST_PASSWORD", "")

    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as exc:
        print(f"MISSING GStreamer RTSP server bindings: {exc}", flush=True)
        return MISSING_EXIT_STATUS

    Gst.init(None)
    for element in ("videotestsrc", "x264enc", "rtph264pay"):
        if Gst.ElementFactory.find(element) is None:
            print(f"MISSING GStreamer element {element}", flush=True)
            return MISSING_EXIT_STATUS

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    server.set_backlog(128)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(False)

    if args.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken.new()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        if args.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(args.user, password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions.new()
        for permission in (
            GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
            GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
        ):
            permissions.add_permission_for_role(ROLE, permission, True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(args.mount, factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print("MISSING could not attach the RTSP server", flush=True)
        return MISSING_EXIT_STATUS

    def stop(*_: object) -> bool:
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
        stop,
    )
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
