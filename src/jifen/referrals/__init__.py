"""Referral: invite codes, attribution, qualification, rewards and revocation."""
