"""The lab's routers by area: ``auth`` (API sign-in), ``cohorts`` (cohorts, trainees,
invitations, drills, rubrics, personas, exports), ``sessions`` (uploads, sessions, reports) and ``pages``
(the server-rendered dashboard)."""
