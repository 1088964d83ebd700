#!/bin/sh
# rt-predictor's completion feed for Slurm: JobCompType=jobcomp/script with
# JobCompLoc pointing at this file. Slurm runs it at every job end (cancelled
# pending jobs too) with the job in its environment, and only that (PATH
# aside), so the settings are here: edit them when installing.
#
# rtp-jobcomp reports the job to the edge's ReportJobs; when the edge cannot
# take it, the event waits in the spool file and goes with the next one.
RTP_JOBCOMP=/usr/local/bin/rtp-jobcomp
RTP_EDGE=http://127.0.0.1:50051
RTP_JOBCOMP_SPOOL=/var/spool/slurm/rtp-jobcomp.spool
RTP_JOBCOMP_TIMEOUT_MS=2000
# A bearer token, if the edge requires one:
# RTP_EDGE_TOKEN=...; export RTP_EDGE_TOKEN

export RTP_EDGE RTP_JOBCOMP_SPOOL RTP_JOBCOMP_TIMEOUT_MS
exec "$RTP_JOBCOMP"
