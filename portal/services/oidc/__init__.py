"""The portal as an OpenID provider: what it keeps and decides for the apps that sign people in
with it. ``signing_keys``: the keys its tokens are signed with, and the public set apps check them by.
"""
