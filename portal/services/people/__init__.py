"""Accounts and what they hold: the account's life, its profile fields, avatar, groups and exported
data, its passwords, proof of its mailbox, and the staff's directory and bulk actions."""
