<#
.SYNOPSIS
    Create the low-privilege local account the crashbot *fix* runner runs as on Windows, and lock it out
    of everything a fix build has no business reading: the deploy runner, the realm's install folder,
    the uploader's folder, and other runners' credentials.

.DESCRIPTION
    Windows has no bubblewrap: engine-written code builds and runs as this account. The account is a
    plain local user (never an administrator, not in Remote Desktop Users), and every folder passed in
    -DenyFolders gets an explicit Deny ACE for it (inherited by what is inside). Register the fix runner
    (label crashbot-fix) under this account with Install-CrashbotRunner.ps1 -Account <name> -Labels
    crashbot-fix; the deploy runner (realm-<name>) stays under its own account.

    What this cannot stop (README "Security model"): a process of this account can read the fix job's
    environment (crashbot and the build run as the same user), every world-readable file, and the network.

    Idempotent and -WhatIf-aware, like the other runner-setup scripts. NEVER RUN by crashbot's own CI or
    tests: it needs a real Windows host with an elevated PowerShell.

.EXAMPLE
    .\New-CrashbotBuildAccount.ps1 -DenyFolders C:\actions-runner-deploy, D:\WoW, C:\crashbot
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [string]$Account = 'crashbot-fix',
    [string[]]$DenyFolders = @()
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script from an elevated PowerShell (Run as Administrator).'
}

# 1. The account: a standard user with a random password nobody keeps (the runner service is
#    registered with it once; reset it with this script's -WhatIf off if that needs doing again).
if (Get-LocalUser -Name $Account -ErrorAction SilentlyContinue) {
    Write-Host "OK: local account $Account exists."
} elseif ($PSCmdlet.ShouldProcess($Account, 'create local user')) {
    $bytes = New-Object byte[] 24
    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    $plain = [Convert]::ToBase64String($bytes) + 'aA1!'
    $secure = ConvertTo-SecureString $plain -AsPlainText -Force
    New-LocalUser -Name $Account -Password $secure -PasswordNeverExpires -UserMayNotChangePassword `
        -Description 'crashbot fix runner: builds engine-written code; no deploy rights' | Out-Null
    Write-Host "Created local account $Account. Its password, for registering the fix runner service once:"
    Write-Host "  `$env:CRASHBOT_RUNNER_PASSWORD = '$plain'"
}

# 2. Never an administrator or a remote-desktop user.
foreach ($group in @('Administrators', 'Remote Desktop Users')) {
    $member = Get-LocalGroupMember -Group $group -ErrorAction SilentlyContinue |
        Where-Object { $_.Name -like "*\$Account" }
    if ($member -and $PSCmdlet.ShouldProcess("$Account in $group", 'remove')) {
        Remove-LocalGroupMember -Group $group -Member $Account
        Write-Host "Removed $Account from $group."
    }
}

# 3. An explicit Deny on every folder a fix build must not read or write (inherited by their contents).
foreach ($folder in $DenyFolders) {
    if (-not (Test-Path -LiteralPath $folder)) { Write-Warning "$folder does not exist; skipped."; continue }
    $acl = Get-Acl -LiteralPath $folder
    $has = $acl.Access | Where-Object {
        $_.IdentityReference -like "*\$Account" -and $_.AccessControlType -eq 'Deny'
    }
    if ($has) { Write-Host "OK: $Account is already denied $folder."; continue }
    if ($PSCmdlet.ShouldProcess($folder, "deny $Account")) {
        $rule = New-Object Security.AccessControl.FileSystemAccessRule(
            $Account, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Deny')
        $acl.AddAccessRule($rule)
        Set-Acl -LiteralPath $folder -AclObject $acl
        Write-Host "Denied $Account on $folder."
    }
}
Write-Host "Next: register the fix runner under $Account with Install-CrashbotRunner.ps1 -Account $Account -Labels crashbot-fix"
