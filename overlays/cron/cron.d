# Written by piimage for {{ node.name }}.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
{% for job in jobs %}{{ job.schedule }}	{{ job.user }}	{{ job.command }}
{% endfor %}
