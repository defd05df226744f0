"""The admin console: server-rendered pages under ``/admin`` for tenant admins and operators.

Pages read and write only through the domains' services, as the APIs do. Sign-in is by email and
password (argon2id), sessions live in PostgreSQL behind an HttpOnly cookie, every form carries a
per-session CSRF token, and every page checks the signed-in user's role (:mod:`admin_ui.roles`).
"""
