"""Lambda handlers: parse the event, call one service function, shape the reply.

``functions/<name>/app.py`` re-exports these, so the template's ``Handler: app.handler`` resolves.
"""
