<#
.SYNOPSIS
    Let one account query, start and stop one Windows service (e.g. the runner's account and worldserver).

.DESCRIPTION
    A GitHub Actions runner service runs as NETWORK SERVICE or a dedicated local account; neither may
    stop another service by default, so `crashbot deploy` (windows-service backend) fails with
    "Access is denied" (error 5). This script appends one ACE to the service's security descriptor:
    (A;;RPWPLCRC;;;<SID>) = start (RP), stop (WP), query status (LC), read control (RC).
    Idempotent: an existing identical ACE is left alone. Supports -WhatIf.

.EXAMPLE
    .\Grant-ServiceControl.ps1 -ServiceName worldserver -Account ".\crashbot-runner"
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][string]$ServiceName,
    [Parameter(Mandatory = $true)][string]$Account
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if (-not (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) {
    throw "Service '$ServiceName' does not exist. Install worldserver as a service first (worldserver.exe --service install)."
}
try {
    $sid = (New-Object System.Security.Principal.NTAccount($Account)).Translate(
        [System.Security.Principal.SecurityIdentifier]).Value
} catch {
    throw "Account '$Account' is unknown on this machine: $($_.Exception.Message)"
}

$sddl = (& sc.exe sdshow $ServiceName | Where-Object { $_ -match '^D:' } | Select-Object -First 1)
if (-not $sddl) { throw "Could not read the security descriptor of '$ServiceName' (run as Administrator)." }
$ace = "(A;;RPWPLCRC;;;$sid)"
if ($sddl.Contains($ace)) {
    Write-Host "OK: $Account can already start and stop $ServiceName."
    return
}
# The DACL ends where the SACL ("S:") begins, if there is one; insert the ACE at the end of the DACL.
$sIndex = $sddl.IndexOf('S:')
$newSddl = if ($sIndex -ge 0) { $sddl.Insert($sIndex, $ace) } else { $sddl + $ace }
if ($PSCmdlet.ShouldProcess($ServiceName, "grant start/stop to $Account ($sid)")) {
    & sc.exe sdset $ServiceName $newSddl | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "sc.exe sdset failed with exit code $LASTEXITCODE (run as Administrator)." }
    Write-Host "Granted: $Account may now start and stop $ServiceName."
}
