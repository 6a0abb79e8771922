"""Accounts and what they hold: profile fields, avatar, groups, passwords, proof of the mailbox, staff lists."""
