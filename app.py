"""The Mastra platform API: a table of contents of Blueprints and events."""

from chalice import Chalice

from chalicelib.events import schedules, steps, uploads
from chalicelib.routes import (
    auth,
    fallback,
    gateway,
    gateway_memory,
    gateway_usage,
    login,
    members,
    openapi,
    orgs,
    server,
    server_ops,
    studio,
    tokens,
)

app = Chalice(app_name="mastra-platform")

app.register_blueprint(auth.bp)
app.register_blueprint(tokens.bp)
app.register_blueprint(members.bp)
app.register_blueprint(orgs.bp)
app.register_blueprint(login.bp)
app.register_blueprint(studio.bp)
app.register_blueprint(server.bp)
app.register_blueprint(server_ops.bp)
app.register_blueprint(gateway.bp)
app.register_blueprint(gateway_memory.bp)
app.register_blueprint(gateway_usage.bp)
app.register_blueprint(uploads.bp)
app.register_blueprint(steps.bp)
app.register_blueprint(schedules.bp)
app.register_blueprint(openapi.bp)
fallback.register(app)  # last: 405s and preflights for every path above
